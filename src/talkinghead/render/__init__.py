"""Renderers turn a prepared source face plus target landmarks into output crops."""

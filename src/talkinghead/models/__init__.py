"""Small trained networks (torch). Weights load only through safetensors."""

"""Face analysis: detection, 478-point landmarks, head pose, smoothing, crop and paste-back."""

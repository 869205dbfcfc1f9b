"""Text-to-motion in the spirit of NeRM (ICLR 2024): a sentence to SMPL motion at any framerate."""

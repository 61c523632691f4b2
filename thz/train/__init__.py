"""The training loop and what it needs: variants, curriculum, tracking."""

"""Evaluation after training: predictions, scores, comparison between models, reports, figures."""

"""Widgets and layout only: views emit signals and expose setters; controllers decide what they show."""

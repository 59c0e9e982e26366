"""Controllers wire core (engine, case store, report) to the views; they hold the app's logic."""

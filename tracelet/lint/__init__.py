"""`tracelet lint`: hyperparameters whose values reach no tracker, as CI findings."""

"""The model core every stage stands on: the one task list, the estimator and its settings, the one scoring
function, the registered pyfunc, tracking, the champion/challenger registry and the loaded champions."""

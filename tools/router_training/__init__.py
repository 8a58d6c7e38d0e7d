"""Training and evaluating RouteDesk's router (tools only; the shipped package never imports
this). ``data``: the benchmark files as matrices, labels and folds; ``optimise``: the
deterministic logistic fit and Platt scaling; ``recipe``: features, priors and the fits;
``cv``: cross-validation, nested selection and metrics.
"""

"""AliECS workflow and task templates: raw-text YAML, the {{ }} expression language, staged role-tree
evaluation -> EnvironmentPlan. Pure: no I/O beyond reading the config repo.
"""

"""EnvironmentPlan -> typed Nomad job model -> API-JSON and HCL2 text. Pure."""

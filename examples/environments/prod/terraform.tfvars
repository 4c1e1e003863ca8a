# Promotion to prod is this line changing to "v2", reviewed in the plan.
release = "v1"

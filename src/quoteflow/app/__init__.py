"""The composition root: what the commands build their pipelines from."""

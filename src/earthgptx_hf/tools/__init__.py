"""Commands at the top of the layers: the demo (`python -m earthgptx_hf.tools.demo`), Hub-ready checkpoints
(`tools.hub.save_hub_ready`) and the sizing tools (`python -m earthgptx_hf.tools.inspect_model`, `compute_cost`,
`training_memory`)."""

"""Standard-library helpers that every layer above the model folder may use: optional extras (`extras.require`) and
the rule that no output overwrites an input (`output_paths`)."""

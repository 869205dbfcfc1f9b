"""Motion prediction and completion in the spirit of NeRMo (seed 002): a neural motion field
of continuous time with joint-specific codes, whose instance-specific part is fitted on the
observed history in closed form. See docs/predict.md."""

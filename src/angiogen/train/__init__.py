"""Training toolkit shared by all tasks: device, seeding, EMA, checkpoints, DDP, logging."""

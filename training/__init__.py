"""Tenant adapter training: datasets, LoRA/QLoRA, evaluation gate, publishing."""

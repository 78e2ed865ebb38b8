"""Channel adapters: each turns platform events into `Inbound` messages and sends replies."""

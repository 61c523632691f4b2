"""Built-in THz face simulator: identity-specific 3-D heads, five postures, balaclava
concealment, an active THz imager model and paired visible-spectrum photographs."""

from thz.data.simulate.dataset import identity_name, simulate_capture, write_dataset

__all__ = ["identity_name", "simulate_capture", "write_dataset"]

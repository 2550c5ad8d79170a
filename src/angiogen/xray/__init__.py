"""X-ray engine: C-arm geometry, cone-beam projector, attenuation physics."""

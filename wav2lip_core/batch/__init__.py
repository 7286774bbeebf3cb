"""Many lip-sync jobs from a manifest: ``python -m wav2lip_core batch MANIFEST`` (command.py), on this machine or
on a Ray cluster (ray_pool.py; Ray is optional and imported only there)."""

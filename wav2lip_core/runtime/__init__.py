"""Where and how the engine runs: the device and the precision, with one meaning of ``auto`` (``devices``),
the one batch loop, which halves on out-of-memory (``batching``), the generator's inference-only speed-ups
applied once after loading (``fast_inference``), the one ffmpeg binary the engine runs (``ffmpeg``), and how
our own command-line process starts and ends (``startup``).

Nothing here changes what the data means: host arrays reach a device with their dtype and layout
(``host_to_device``: numpy -> tensor); a folded generator keeps its interface, mel ``(B, 1, 80, 16)`` and faces
``(B, 6, 96, 96)`` BGR 0..1 NCHW in, faces ``(B, 3, 96, 96)`` BGR 0..1 out (its weights channels-last on the CPU
and CUDA); ffmpeg's audio conversion returns the raw bytes its arguments ask for.
"""

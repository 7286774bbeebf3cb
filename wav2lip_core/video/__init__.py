"""Video in and out: face videos and still images read into frames (``reading``: probing, lazy decoding,
frame-rate checks), and the lip-synced frames written to an mp4 (``writing``: streamed into ffmpeg, the speech
muxed in as AAC, moved into place only when complete) with the H.264 encoder picked for the job (``encoders``:
x264, or NVENC on an NVIDIA GPU that has it), all through the one ffmpeg binary (``runtime.ffmpeg``).

At this boundary frames are uint8 RGB NHWC 0..255: ``(N, H, W, 3)`` arrays, or ``(H, W, 3)`` frames read in
order on demand; frame rates are frames per second within ``audio.FRAME_RATE_RANGE``; audio goes in and out as
files, never as samples.
"""

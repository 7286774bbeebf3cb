"""Faces between the frames and the generator: cut out of their frames and made into the network's input,
with the generator run on them (``faces``), and the generated faces put back into their boxes with the blend
masks and colour matching (``blend``); their batched tensor forms for any torch device (``faces_torch``,
``paste_torch``), and OpenCV's resizes on batched tensors that these and the detection copies share
(``tensor_resize``).

At this boundary frames are uint8 RGB NHWC 0..255 (the tensor forms also take a ComfyUI IMAGE's float 0..1,
worked on as ``round(x * 255)``); boxes are ``(y1, y2, x1, x2)`` frame pixels; crops are ``(B, 96, 96, 3)``
uint8 RGB; generated faces are float32 RGB 0..1, ``(S, S, 3)`` or ``(B, S, S, 3)`` with S >= 96. The
network's own input and output are BGR 0..1 NCHW, and that flip happens here only (``faces``).
"""

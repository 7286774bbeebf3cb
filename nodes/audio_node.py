"""AudioToMel: any ComfyUI AUDIO + the video frame rate -> mel chunks, one per output video frame."""
from __future__ import annotations

from wav2lip_core.audio import (DEFAULT_LENGTH, FRAME_RATE_RANGE, LENGTH_RULES, SAMPLE_RATE, check_frame_rate,
                                check_length_rule, shift_speech, speech_mel_chunks, to_mono_16k)
from wav2lip_core.silence import chunk_loudness_dbfs

from .tensors import audio_to_numpy
from .types import CATEGORY, WAV2LIP_MEL, MelChunks


class AudioToMel:
    """Speech (any rate, mono or stereo) -> Wav2Lip mel chunks at the video's frame rate.

    The number of chunks is the number of frames of the lip-synced video: the audio decides the length.
    """

    @classmethod
    def INPUT_TYPES(cls):
        # length is optional, after the existing inputs: a workflow saved before it has no value for it and loads
        # with the default, in the editor (which fills missing widgets) and as an API prompt (where a missing
        # required input is an error).
        return {"required": {
            "audio": ("AUDIO", {"tooltip": "The speech to lip-sync to: from Load Audio, a video's audio "
                                           "(Get Video Components) or a text-to-speech node. Any sample rate, "
                                           "mono or stereo (stereo is mixed down)."}),
            "fps": ("FLOAT", {"default": 25.0, "min": FRAME_RATE_RANGE[0], "max": FRAME_RATE_RANGE[1], "step": 0.001,
                              "tooltip": "Frame rate of the output video. Wire it from Get Video Components' fps "
                                         "so the mouth stays in sync with the source video; type it for a "
                                         "still image (25 is the rate Wav2Lip was trained at)."}),
            "offset_frames": ("INT", {"default": 0, "min": -250, "max": 250,
                                      "tooltip": "Moves the speech the mouth is generated from by whole video "
                                                 "frames; the video's sound is not changed. Positive: the mouth "
                                                 "moves earlier. Type the AV offset Lip Sync Score measured on "
                                                 "the result to correct it (0: no shift)."}),
        }, "optional": {
            "length": (list(LENGTH_RULES), {
                "default": DEFAULT_LENGTH,
                "tooltip": "How many frames the video gets. speech: one per 1/fps of the speech, so the video lasts "
                           "as long as its sound. original: the original Wav2Lip's count, which stops a few frames "
                           "early (2.00 s at 25 fps: 47 frames, not 50; the last words play over the last frame), "
                           "for exact reproduction."}),
        }}

    RETURN_TYPES = (WAV2LIP_MEL, "INT", "FLOAT")
    RETURN_NAMES = ("mel", "frame_count", "fps")
    OUTPUT_TOOLTIPS = ("Mel-spectrogram chunks, one per output frame; connect to Wav2Lip Sync.",
                       "Number of frames the lip-synced video will have (with length speech: the audio's duration "
                       "x fps, rounded up).",
                       "The frame rate, passed through for Create Video.")
    FUNCTION = "convert"
    CATEGORY = CATEGORY
    DESCRIPTION = "Turns speech into the mel-spectrogram chunks Wav2Lip listens to, one per video frame."

    def convert(self, audio: dict, fps: float, offset_frames: int = 0, length: str = DEFAULT_LENGTH):
        # A wired FLOAT (e.g. Get Video Components' fps of a broken container) bypasses the widget's limits.
        fps = check_frame_rate(fps, "Audio To Mel's fps")
        length = check_length_rule(length)
        samples, sample_rate = audio_to_numpy(audio)
        wav = to_mono_16k(samples, sample_rate)
        speech = shift_speech(wav, int(offset_frames), fps)       # what the mouth is generated from
        mel = MelChunks(chunks=speech_mel_chunks(speech, fps, length), fps=fps, audio_seconds=len(wav) / SAMPLE_RATE,
                        loudness_dbfs=chunk_loudness_dbfs(speech, fps, length))
        return (mel, mel.num_frames, fps)

"""The models this pack knows by name: file names, sizes, architectures and where to download them.

One table, ``KNOWN_MODELS``, read by the resolver and the fetcher (this package), the CLI and the ComfyUI nodes.
Sources are tried in order; the first one that answers with a file that passes verification wins.

Where the sources come from (checked by reading public code that downloads from them, not by listing the
repositories themselves, which this project cannot reach; see the project's issue 7 report):

* ``Nekochu/Wav2Lip`` holds ``wav2lip.pth``, ``wav2lip_gan.pth`` and ``lipsync_expert.pth`` at the top level,
  the original file names; one user states its SHA-256 matches the original release. First for those three.
* ``camenduru/Wav2Lip`` mirrors the original repository tree: ``checkpoints/wav2lip_gan.pth``,
  ``checkpoints/wav2lip.pth``, ``checkpoints/lipsync_expert.pth`` and the detector under
  ``face_detection/detection/sfd/s3fd.pth`` (the place the original inference code reads it from). It is the
  mirror used most widely in public code. Second.
* ``numz/wav2lip_studio`` holds ``Wav2lip/wav2lip.pth`` and ``Wav2lip/wav2lip_gan.pth`` (lower-case "l" in the
  folder name). Third, generators only.
* S3FD: face-alignment itself downloads ``https://www.adrianbulat.com/downloads/python-fan/s3fd-619a316812.pth``
  (``face_alignment/detection/sfd/sfd_detector.py``); that address is first, the camenduru copy second.
* SyncNet v2 (``syncnet_v2.model``, the network of the LSE-D / LSE-C scores): the authors' address is the one
  joonson/syncnet_python's ``download_model.sh`` fetches (robots.ox.ac.uk, first); LatentSync's Hugging Face
  repositories (``ByteDance/LatentSync-1.6`` and ``chunyu-li/LatentSync``) carry the same file at
  ``auxiliary/syncnet_v2.model``, and several public install scripts check it against the SHA-256 given below.

A source that does not hold the file answers 404 and the next one is tried, so a wrong guess costs one
request. Where the official file's SHA-256 is known (wav2lip_gan, lipsync_expert, s3fd, syncnet_v2), a source whose
bytes differ is passed over for one that has them (and used only if none has). Every downloaded file is
verified (it loads with ``weights_only``, its keys and shapes are the expected network, every value is
finite) before it is put where a loader can see it.

Licence: the Wav2Lip checkpoints (generators and SyncNet expert) were released by the authors for research
and non-commercial use only (they were trained on LRS2). S3FD is distributed with face-alignment (BSD-3).
SyncNet v2 comes with joonson/syncnet_python, whose licence (MIT, Joon Son Chung) is the only one published
with it; the weights have no licence of their own (mirrors' model-card tags are not the authors').
"""
from __future__ import annotations

from dataclasses import dataclass

from .architectures import S3FD, SYNCNET, SYNCNET_V2, WAV2LIP


DEFAULT_ENDPOINT = "https://huggingface.co"   # the Hugging Face Hub itself (HF_ENDPOINT may name a mirror)


@dataclass(frozen=True)
class HubSource:
    """A file in a Hugging Face model repository, fetched through ``huggingface_hub`` (honours HF_ENDPOINT)."""
    repo_id: str
    path: str
    revision: str = "main"

    def describe(self, endpoint: str = DEFAULT_ENDPOINT) -> str:
        return f"{endpoint.rstrip('/')}/{self.repo_id}/resolve/{self.revision}/{self.path}"


@dataclass(frozen=True)
class UrlSource:
    """A plain HTTPS address (not a Hugging Face repository)."""
    url: str

    def describe(self, endpoint: str = DEFAULT_ENDPOINT) -> str:
        return self.url


Source = HubSource | UrlSource

NON_COMMERCIAL = "research and non-commercial use only (Wav2Lip authors' terms; trained on LRS2)"


@dataclass(frozen=True)
class KnownModel:
    """One model the pack can find on disk or download.

    ``filenames``: names it usually has on disk, the first is the name a download is saved under.
    ``approx_bytes``: size of the official file, for messages and the free-space check.
    ``architecture``: the id (in ``architectures.ARCHITECTURES``) of what the file must hold.
    ``sha256``: the published hash of the official file, or None when none is known. A download with other
    bytes that still passes verification is kept only if no source has the official bytes.
    """
    name: str
    filenames: tuple[str, ...]
    approx_bytes: int
    architecture: str
    sources: tuple[Source, ...]
    description: str
    licence: str
    sha256: str | None = None

    @property
    def filename(self) -> str:
        return self.filenames[0]

    @property
    def approx_size_text(self) -> str:
        return f"about {self.approx_bytes / 2**20:.0f} MiB"


KNOWN_MODELS: dict[str, KnownModel] = {model.name: model for model in (
    KnownModel(
        name="wav2lip_gan",
        filenames=("wav2lip_gan.pth", "Wav2Lip_GAN.pth", "wav2lip_gan.safetensors"),
        approx_bytes=435_801_865,  # 415.6 MiB: weights + Adam state, as released
        architecture=WAV2LIP,
        sources=(
            HubSource("Nekochu/Wav2Lip", "wav2lip_gan.pth"),
            HubSource("camenduru/Wav2Lip", "checkpoints/wav2lip_gan.pth"),
            HubSource("numz/wav2lip_studio", "Wav2lip/wav2lip_gan.pth"),
        ),
        description="Wav2Lip generator trained with the visual-quality GAN: the best-looking mouths",
        licence=NON_COMMERCIAL,
        # Given with the original SharePoint link and for both the Nekochu and camenduru copies by several
        # independent projects that check it, and as the git-LFS object id of a copy on GitHub.
        sha256="ca9ab7b7b812c0e80a6e70a5977c545a1e8a365a6c49d5e533023c034d7ac3d8",
    ),
    KnownModel(
        name="wav2lip",
        filenames=("wav2lip.pth", "Wav2Lip.pth", "wav2lip.safetensors"),
        approx_bytes=435_801_865,
        architecture=WAV2LIP,
        sources=(
            HubSource("Nekochu/Wav2Lip", "wav2lip.pth"),
            HubSource("camenduru/Wav2Lip", "checkpoints/wav2lip.pth"),
            HubSource("numz/wav2lip_studio", "Wav2lip/wav2lip.pth"),
        ),
        description="Wav2Lip generator without the GAN: the most accurate lip sync, slightly blurrier",
        licence=NON_COMMERCIAL,
    ),
    KnownModel(
        name="lipsync_expert",
        filenames=("lipsync_expert.pth", "lipsync_expert.safetensors"),
        approx_bytes=197_300_000,  # 16.4 M fp32 parameters with Adam state
        architecture=SYNCNET,
        sources=(
            HubSource("Nekochu/Wav2Lip", "lipsync_expert.pth"),
            HubSource("camenduru/Wav2Lip", "checkpoints/lipsync_expert.pth"),
        ),
        description="SyncNet lip-sync expert: scores audio-video sync (training and quality checks only)",
        licence=NON_COMMERCIAL,
        sha256="9b9936c721696446eeed353032cab242a8cf0eed8c46cde540366f6ae5493be5",  # with the SharePoint link
    ),
    KnownModel(
        name="syncnet_v2",
        filenames=("syncnet_v2.model", "syncnet_v2.pth", "syncnet_v2.safetensors"),
        approx_bytes=54_600_000,  # 13.6 M fp32 parameters, a bare state dict
        architecture=SYNCNET_V2,
        sources=(
            UrlSource("https://www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model"),
            HubSource("ByteDance/LatentSync-1.6", "auxiliary/syncnet_v2.model"),
            HubSource("chunyu-li/LatentSync", "auxiliary/syncnet_v2.model"),
        ),
        description="SyncNet v2 (Chung & Zisserman): the LSE-D / LSE-C lip-sync scores of the papers",
        licence="MIT (joonson/syncnet_python, Joon Son Chung); no separate licence is published for the weights",
        # Checked for the LatentSync copies by public install scripts and evaluation code that verify them.
        sha256="961e8696f888fce4f3f3a6c3d5b3267cf5b343100b238e79b2659bff2c605442",
    ),
    KnownModel(
        name="s3fd",
        filenames=("s3fd.pth", "s3fd-619a316812.pth"),
        approx_bytes=89_843_225,
        architecture=S3FD,
        sources=(
            UrlSource("https://www.adrianbulat.com/downloads/python-fan/s3fd-619a316812.pth"),
            HubSource("camenduru/Wav2Lip", "face_detection/detection/sfd/s3fd.pth"),
        ),
        description="S3FD face detector (the one the original Wav2Lip and face-alignment use)",
        licence="BSD-3-Clause (face-alignment)",
        # Starts with the "619a316812" of the file name (torch.hub's <name>-<sha256 prefix> convention); the
        # same full hash is checked by independent projects for adrianbulat.com and both camenduru paths.
        sha256="619a31681264d3f7f7fc7a16a42cbbe8b23f31a256f75a366e5a1bcd59b33543",
    ),
)}


def find_known_model(name_or_filename: str) -> KnownModel | None:
    """The known model called ``name_or_filename`` ("wav2lip_gan", "wav2lip_gan.pth", any case), else None."""
    wanted = name_or_filename.strip().replace("\\", "/").rsplit("/", 1)[-1].lower()
    for model in KNOWN_MODELS.values():
        if wanted == model.name.lower() or wanted in (filename.lower() for filename in model.filenames):
            return model
    return None


@dataclass(frozen=True)
class PackagedModelFile:
    """A model file that is not a torch checkpoint and is installed by a pip package (dlib's ``.dat`` files).

    ``package``: the importable module whose ``models/`` folder holds it, ``pip_name``: what to install;
    ``sha256``: the bytes that package ships (the file is used only with exactly these bytes).
    """
    filename: str
    package: str
    pip_name: str
    sha256: str
    description: str
    licence: str


# face-recognition-models 0.3.0 (PyPI, Adam Geitgey): dlib's own model files, released by Davis King as CC0.
PACKAGED_MODEL_FILES: dict[str, PackagedModelFile] = {model.filename: model for model in (
    PackagedModelFile(
        filename="dlib_face_recognition_resnet_model_v1.dat", package="face_recognition_models",
        pip_name="face-recognition-models",
        sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
        description="dlib's ResNet face descriptor (128-D; the same person lies below about 0.6 apart)",
        licence="CC0 (dlib-models, Davis King)"),
    PackagedModelFile(
        filename="shape_predictor_5_face_landmarks.dat", package="face_recognition_models",
        pip_name="face-recognition-models",
        sha256="c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
        description="dlib's 5-point face landmarks, which align a face for the descriptor",
        licence="CC0 (dlib-models, Davis King)"),
)}

"""Tokenizers: the small tokenizer shipped with the package (presets `tiny` and `small`) and the EarthGPT-X tokens.

The shipped tokenizer is a byte-level BPE with 886 ids (the BPE trainer's target is 1,024; the corpus supports 886) (`<pad>`=0, `<s>`=1, `</s>`=2, `<unk>`=3) trained by
`train_shipped_tokenizer()` on `CORPUS`: the task instructions and answers of remote-sensing visual prompting, and
category names of common optical, SAR and infrared sets. Byte-level, so it encodes any text; short on the domain's
words, so sequences stay short on a CPU. The file is `assets/earthgptx_bpe.json`;
`python -m earthgptx_hf.conversion.tokenization` rebuilds it.

`add_earthgptx_tokens` appends the special tokens `<image>`, `[PIX]`, `<region_feat>`, `<Region 1>` ...
`<Region K>` in the order `EarthGPTXConfig` expects (`special_token_layout`).
"""

from __future__ import annotations

import os
import tempfile
from importlib import resources
from pathlib import Path

from transformers import PreTrainedTokenizerFast

from ..models.earthgptx.configuration_earthgptx import REGION_TOKEN_TEMPLATE, SPECIAL_TOKENS

SHIPPED_TOKENIZER = "earthgptx_bpe.json"
SHIPPED_VOCAB_SIZE = 1024  # the trainer's target; the corpus supports 886 ids (SHIPPED_BASE_VOCAB_SIZE)
BASE_SPECIAL_TOKENS = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}

CATEGORIES = (
    "airplane airport baseball field basketball court bridge chimney dam expressway service area expressway toll "
    "station golf field ground track field harbor overpass ship stadium storage tank tennis court train station vehicle "
    "windmill large vehicle small vehicle helicopter roundabout soccer ball field swimming pool container crane "
    "plane person car bicycle other vehicle solar panel building road tree low vegetation water farmland forest "
    "residential industrial commercial parking lot river lake beach desert meadow mountain cloud"
).split(" ")

CORPUS = [
    "Please identify the object category of each marked region in the image.",
    "What is the category of the object in each marked region?",
    "Classify every region marked in the image.",
    "Name the object inside each visual prompt.",
    "Please provide a brief description of each marked region.",
    "Describe the marked region in detail.",
    "Describe this image briefly.",
    "Please generate a short caption of the image.",
    "What type of scene is shown in this remote sensing image?",
    "Classify the scene of the image.",
    "What is the relationship between the marked regions?",
    "Please segment the object in the marked region.",
    "Segment the marked region and output its mask. [PIX]",
    "It is [PIX].",
    "Sure, the segmentation result is [PIX].",
    "This is an optical image. This is a SAR image. This is an infrared image. (modality: sar) (modality: optical)",
    "The image shows a harbor with several ships docked along the pier and storage tanks nearby.",
    "There are many cars parked in the parking lot next to the building.",
    "A person is walking on the road at night in the thermal image.",
    "Several ships are sailing on the sea in the SAR image with strong backscatter.",
    "Rows of solar panels are installed on the ground.",
    "The airplane is parked at the airport near the terminal building.",
    "left right above below next to near far from inside outside on top of adjacent to the same as larger smaller",
    "zero one two three four five six seven eight nine ten 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16",
    "yes no a an the is are was were of in on at to with and or for by from this that these those it there",
    "USER: ASSISTANT: SYSTEM:",
]


def _training_text() -> list[str]:
    lines = list(CORPUS)
    for name in CATEGORIES:
        lines.append(f"<Region 1>: {name}\n<Region 2>: {name}s")
        lines.append(f"The object in the marked region is a {name}.")
    return lines * 4


def train_shipped_tokenizer(vocab_size: int = SHIPPED_VOCAB_SIZE):
    """Trains the shipped byte-level BPE deterministically (a `tokenizers.Tokenizer`)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(BASE_SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_training_text(), trainer=trainer)
    return tokenizer


def load_shipped_tokenizer() -> PreTrainedTokenizerFast:
    """The shipped tokenizer (`SHIPPED_BASE_VOCAB_SIZE` ids), without the EarthGPT-X tokens."""
    path = resources.files("earthgptx_hf.conversion").joinpath("assets", SHIPPED_TOKENIZER)
    with resources.as_file(path) as file:
        tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(file), **BASE_SPECIAL_TOKENS)
    tokenizer.add_bos_token = True
    return tokenizer


def load_llama_tokenizer(path: str | os.PathLike):
    """A Llama tokenizer from a folder (any `AutoTokenizer` folder) or a SentencePiece `tokenizer.model` file."""
    from transformers import AutoTokenizer, LlamaTokenizer

    path = Path(path)
    if path.is_file():
        from ..utils.extras import require

        # converting a SentencePiece model into a fast tokenizer reads it with sentencepiece and protobuf
        purpose = f"Reading the SentencePiece tokenizer {os.fspath(path)!r}"
        require("sentencepiece", extra="llama", purpose=purpose)
        require("google.protobuf", extra="llama", purpose=purpose)
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "tokenizer.model").symlink_to(path.resolve())
            tokenizer = LlamaTokenizer.from_pretrained(folder)
    elif path.is_dir():
        tokenizer = AutoTokenizer.from_pretrained(path)
    else:
        raise ValueError(f"tokenizer={os.fspath(path)!r} is neither a tokenizer folder nor a tokenizer.model file.")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.unk_token  # Llama-2 has no pad token; id 0 (<unk>) as in the paper preset
    return tokenizer


def region_tokens(max_regions: int) -> list[str]:
    return [REGION_TOKEN_TEMPLATE.format(i) for i in range(1, max_regions + 1)]


def add_earthgptx_tokens(tokenizer, max_regions: int):
    """Appends `<image>`, `[PIX]`, `<region_feat>`, `<Region 1..K>` as special tokens (idempotent)."""
    wanted = list(SPECIAL_TOKENS) + region_tokens(max_regions)
    missing = [t for t in wanted if t not in tokenizer.get_vocab()]
    if missing:
        if len(missing) != len(wanted):
            raise ValueError(f"The tokenizer already has some EarthGPT-X tokens but lacks {missing}; give a tokenizer "
                             "with all or none of them.")
        tokenizer.add_special_tokens({"additional_special_tokens": wanted}, replace_extra_special_tokens=False)
    return tokenizer


if __name__ == "__main__":
    out = Path(__file__).with_name("assets") / SHIPPED_TOKENIZER
    out.parent.mkdir(exist_ok=True)
    train_shipped_tokenizer().save(str(out))
    print(f"wrote {out}")

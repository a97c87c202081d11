"""`earthgptx-app`: the interactive app in the browser, served by Gradio on this machine.

    earthgptx-app --model runs/demo/hub                 # the checkpoint `make demo` saves (`make app` serves it)
    earthgptx-app --model user/earthgptx-tiny --port 7861 --host 0.0.0.0
    python -m earthgptx_hf.app --model DIR_OR_HUB_ID

Open the printed address (http://127.0.0.1:7860 by default). The model runs on the first GPU when there is one, else
on the CPU.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field

from transformers import HfArgumentParser

logger = logging.getLogger("earthgptx_hf.app")


@dataclass
class AppArguments:
    model: str = field(metadata={"help": "a checkpoint folder (as `make demo` saves it) or a Hub model id"})
    port: int = field(default=7860, metadata={"help": "the local port to serve on"})
    host: str = field(default="127.0.0.1", metadata={"help": "the address to listen on (0.0.0.0: every interface)"})
    max_new_tokens: int | None = field(default=None, metadata={
        "help": "the longest answer, in tokens (default: the checkpoint's generation config, else 64)"})
    trust_remote_code: bool = field(default=False, metadata={
        "help": "run the checkpoint's own code (a Hub checkpoint saved by save_hub_ready, without this package)"})


def check_arguments(args: AppArguments) -> AppArguments:
    """ValueErrors that name the argument, its value and what is valid."""
    if not 1 <= args.port <= 65535:
        raise ValueError(f"--port {args.port} must be a TCP port between 1 and 65535.")
    if args.max_new_tokens is not None and args.max_new_tokens < 1:
        raise ValueError(f"--max_new_tokens {args.max_new_tokens} must be at least 1.")
    looks_local = os.path.sep in args.model or args.model.startswith(".") or os.path.exists(args.model)
    if looks_local and not os.path.isdir(args.model):
        raise ValueError(f"--model {args.model!r} is not a folder. Pass a checkpoint folder (`make demo` saves one at "
                         "runs/demo/hub) or a Hub model id.")
    return args


def load_pipeline(args: AppArguments):
    """`pipeline("visual-prompting")` of `args.model`, on the first GPU when there is one (the package's one loader,
    `pipelines.loading.load_visual_prompting`, which `earthgptx-predict` uses too)."""
    import torch

    from ..conversion.loading import load_visual_prompting

    device = 0 if torch.cuda.is_available() else -1
    return load_visual_prompting(args.model, device=device, trust_remote_code=args.trust_remote_code)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    parser = HfArgumentParser(AppArguments, description=__doc__)
    (args,) = parser.parse_args_into_dataclasses(sys.argv[1:] if argv is None else argv)
    try:
        check_arguments(args)
    except ValueError as error:
        parser.error(str(error))
    from .ui import build_app, launch_kwargs

    logger.info("loading %s", args.model)
    pipe = load_pipeline(args)
    generate_kwargs = {} if args.max_new_tokens is None else {"max_new_tokens": args.max_new_tokens}
    demo = build_app(pipe, model=args.model, generate_kwargs=generate_kwargs)
    logger.info("serving on http://%s:%d", args.host, args.port)
    demo.queue().launch(server_name=args.host, server_port=args.port, show_error=True, **launch_kwargs())
    return 0


if __name__ == "__main__":
    sys.exit(main())

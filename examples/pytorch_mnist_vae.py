"""The VAE of pytorch/examples (github.com/pytorch/examples, vae/main.py), trained on MNIST and brought
into genviz: a model made outside genviz, in plain PyTorch, opened by genviz.bring.

The model and loss are that example's (its classic form, BCE + KLD, without the continuous-Bernoulli
term later added upstream): an MLP 784-400-20-400-784, Adam lr 1e-3, batch 128, 10 epochs, seed 1,
MNIST pixels in [0, 1]. Upstream reaches a test loss of about 104-106 nats per image after 10 epochs.
MNIST is read with torchvision from $GENVIZ_DATA_DIR (default ./data), downloaded there when missing.

    python -m examples.pytorch_mnist_vae --save-weights runs/pytorch-vae.safetensors

run from the repository's root (so that genviz imports). --load-weights skips training and brings
saved weights again.
"""

import argparse
import os
import shlex
import sys
from pathlib import Path

import torch
import torch.utils.data
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn, optim
from torch.nn import functional as F
from torchvision import datasets, transforms


class VAE(nn.Module):
    def __init__(self):
        super().__init__()

        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))  # (B, 400)
        return self.fc21(h1), self.fc22(h1)  # mu, logvar: (B, 20) each

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))  # (B, 400)
        return torch.sigmoid(self.fc4(h3))  # (B, 784) in [0, 1]

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


# Reconstruction + KL divergence losses summed over all elements and batch
def loss_function(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")

    # see Appendix B from VAE paper:
    # Kingma and Welling. Auto-Encoding Variational Bayes. ICLR, 2014
    # https://arxiv.org/abs/1312.6114
    # 0.5 * sum(1 + log(sigma^2) - mu^2 - sigma^2)
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())

    return BCE + KLD


class Decoder(nn.Module):
    """`model.decode` as images: z (B, 20) -> (B, 1, 28, 28) in [0, 1]."""

    def __init__(self, model: VAE):
        super().__init__()
        self.model = model

    def forward(self, z):
        return self.model.decode(z).view(-1, 1, 28, 28)


class Encoder(nn.Module):
    """`model.encode` on images: (B, 1, 28, 28) in [0, 1] -> (mu, logvar), (B, 20) each."""

    def __init__(self, model: VAE):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.encode(x.flatten(1))


def train(model, optimizer, train_loader):
    model.train()
    train_loss = 0
    for data, _ in train_loader:
        optimizer.zero_grad()
        recon_batch, mu, logvar = model(data)
        loss = loss_function(recon_batch, data, mu, logvar)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
    return train_loss / len(train_loader.dataset)


def test(model, test_loader):
    model.eval()
    test_loss = 0
    with torch.no_grad():
        for data, _ in test_loader:
            recon_batch, mu, logvar = model(data)
            test_loss += loss_function(recon_batch, data, mu, logvar).item()
    return test_loss / len(test_loader.dataset)


def main(args):
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    root = os.environ.get("GENVIZ_DATA_DIR", "data")
    model = VAE()
    command = shlex.join(["python", "-m", "examples.pytorch_mnist_vae", *sys.argv[1:]])

    if args.load_weights:
        model.load_state_dict(load_file(args.load_weights))
        with safe_open(args.load_weights, "pt") as f:  # the command that trained these weights
            command = (f.metadata() or {}).get("command", f"unknown (weights read from {args.load_weights})")
    else:
        train_loader = torch.utils.data.DataLoader(
            datasets.MNIST(root, train=True, download=True, transform=transforms.ToTensor()),
            batch_size=128,
            shuffle=True,
        )
        test_loader = torch.utils.data.DataLoader(
            datasets.MNIST(root, train=False, download=True, transform=transforms.ToTensor()),
            batch_size=128,
        )
        optimizer = optim.Adam(model.parameters(), lr=1e-3)
        for epoch in range(1, args.epochs + 1):
            train_loss = train(model, optimizer, train_loader)
            test_loss = test(model, test_loader)
            print(f"epoch {epoch}: train loss {train_loss:.4f}, test loss {test_loss:.4f} nats/image", flush=True)
        if args.save_weights:
            Path(args.save_weights).parent.mkdir(parents=True, exist_ok=True)
            save_file(model.state_dict(), args.save_weights, metadata={"command": command})
            print(f"weights: {args.save_weights}")

    model.eval()
    from genviz.bring import from_torch

    from_torch(Decoder(model), Encoder(model), latent_shape=(20,), image_shape=(1, 28, 28), dataset="mnist",
               out=args.out, encoder_outputs="mean-logvar", pixel_range=(0, 1), likelihood="bernoulli",
               origin=f"the VAE of pytorch/examples vae/main.py (MLP 784-400-20), trained on MNIST by: {command}",
               overwrite=args.overwrite)  # fmt: skip
    print(f"brought into genviz: {args.out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
    parser.add_argument("--out", default="checkpoints/mnist-pytorch-vae", help="the genviz checkpoint folder to write")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--save-weights", help="also save the trained state dict here (safetensors)")
    parser.add_argument("--load-weights", help="skip training: read this state dict (safetensors) instead")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it holds files")
    main(parser.parse_args())

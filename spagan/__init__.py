"""SPA-GAN: spatial attention GAN for unpaired image-to-image translation, as a plain PyTorch library."""

"""GAN evaluation metrics (FID, KID, IS, MS-SSIM, PRD, P&R, ...)."""

import type { NextConfig } from "next";
import path from "node:path";

const nextConfig: NextConfig = {
  // Default server output (served with `next start`); deliberately NOT "standalone".
  reactStrictMode: true,
  poweredByHeader: false,
  // No Vercel image optimisation / remote images needed for the shell.
  images: { unoptimized: true },
  // Monorepo: pin the workspace root so Turbopack doesn't have to guess it.
  turbopack: { root: path.join(__dirname, "..", "..") },
};

export default nextConfig;

import type { Metadata } from "next";
import type { ReactNode } from "react";
import "./globals.css";

export const metadata: Metadata = {
  title: "Daybox",
  description: "Interactive GPU sessions on shared clusters.",
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <header className="topbar">
          <div className="container topbar-inner">
            <span className="brand">
              <span className="brand-mark" aria-hidden="true" />
              Daybox
            </span>
            <span className="muted small">Portal preview</span>
          </div>
        </header>
        <main className="container">{children}</main>
      </body>
    </html>
  );
}

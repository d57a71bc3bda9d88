"use client";
import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { authClient } from "../lib/auth-client";
import { useMe } from "./providers";

const RESEARCHER = [
  { href: "/", label: "Sessions" },
  { href: "/jobs", label: "Jobs" },
  { href: "/tokens", label: "API tokens" },
];
const ADMIN = [
  { href: "/admin/usage", label: "Fleet" },
  { href: "/admin/policies", label: "Policies" },
  { href: "/admin/projects", label: "Projects" },
  { href: "/admin/nodes", label: "Nodes" },
  { href: "/admin/users", label: "Users" },
  { href: "/admin/audit", label: "Audit log" },
];

export function Nav() {
  const me = useMe();
  const pathname = usePathname();
  const router = useRouter();
  const active = (href: string) => (href === "/" ? pathname === "/" || pathname.startsWith("/sessions") : pathname.startsWith(href));
  const link = (l: { href: string; label: string }) => (
    <Link key={l.href} href={l.href} className={`nav-link${active(l.href) ? " active" : ""}`} aria-current={active(l.href) ? "page" : undefined}>
      {l.label}
    </Link>
  );
  return (
    <header className="topbar">
      <div className="container topbar-inner">
        <Link href="/" className="brand">
          <span className="brand-mark" aria-hidden="true" />
          Daybox
        </Link>
        <nav aria-label="Main" className="nav">
          {RESEARCHER.map(link)}
          {me.role === "admin" ? (
            <>
              <span className="nav-sep" aria-hidden="true" />
              {ADMIN.map(link)}
            </>
          ) : null}
        </nav>
        <div className="user">
          <span className="muted small" title={me.email ?? undefined}>
            {me.name}
            {me.role === "admin" ? <span className="tag">admin</span> : null}
          </span>
          <button
            type="button"
            className="btn btn-ghost btn-sm"
            onClick={async () => {
              await authClient.signOut();
              router.replace("/sign-in");
              router.refresh();
            }}
          >
            Sign out
          </button>
        </div>
      </div>
    </header>
  );
}

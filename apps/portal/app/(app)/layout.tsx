import { TRPCClientError } from "@trpc/client";
import { redirect } from "next/navigation";
import type { ReactNode } from "react";
import { Nav } from "../../components/nav";
import { Providers, type Me } from "../../components/providers";
import { API_URL, serverApi } from "../../lib/server-api";

export const dynamic = "force-dynamic";

/** Every page but sign-in: needs a signed-in user, resolved by the API from the session cookie. */
export default async function SignedInLayout({ children }: { children: ReactNode }) {
  let me: Me;
  try {
    me = await (await serverApi()).auth.whoami.query();
  } catch (err) {
    if (err instanceof TRPCClientError && err.data?.code === "UNAUTHORIZED") redirect("/sign-in");
    return (
      <main className="container">
        <div className="notice notice-err" role="alert">
          <strong>The Daybox API is not reachable</strong> at <code>{API_URL}</code> ({err instanceof Error ? err.message : String(err)}). Start the
          platform with <code>npm run up</code>, then reload.
        </div>
      </main>
    );
  }
  return (
    <Providers me={me}>
      <Nav />
      <main className="container">{children}</main>
    </Providers>
  );
}

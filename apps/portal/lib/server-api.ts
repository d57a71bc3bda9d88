import { createTRPCClient, httpLink } from "@trpc/client";
import { headers } from "next/headers";
import type { AppRouter } from "@daybox/api";

export const API_URL = (process.env.DAYBOX_API_URL ?? "http://127.0.0.1:7878").replace(/\/+$/, "");

/** The API as the signed-in browser: its cookie, forwarded from a server component. */
export async function serverApi() {
  const cookie = (await headers()).get("cookie") ?? "";
  return createTRPCClient<AppRouter>({ links: [httpLink({ url: `${API_URL}/trpc`, headers: { cookie } })] });
}

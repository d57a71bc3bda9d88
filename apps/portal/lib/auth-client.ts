"use client";
import { createAuthClient } from "better-auth/react";

/**
 * better-auth's browser client; its endpoints live under /api/auth on this
 * origin (the portal's server forwards them to the API). An OIDC provider
 * configured with the generic-OAuth plugin signs in like a social provider.
 */
export const authClient = createAuthClient({ basePath: "/api/auth" });

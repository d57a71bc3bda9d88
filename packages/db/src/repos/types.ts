import type { PrismaClient, Prisma } from "../generated/prisma/client.ts";

export type Tx = Prisma.TransactionClient;
export type Prisma_ = PrismaClient;

/** Who did something, as written into events and the audit log. */
export type Actor = string; // "user:alice" | "control-plane" | "agent:node-1"

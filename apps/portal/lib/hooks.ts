"use client";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";

/** The current time, re-rendered every `ms` (relative times and countdowns stay right). */
export function useNow(ms = 15_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** A mutation that refreshes everything on screen when it succeeds. */
export function useAction<I, O>(fn: (input: I) => Promise<O>, onSuccess?: (out: O) => void) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: fn,
    onSuccess: async (out) => {
      onSuccess?.(out);
      await client.invalidateQueries();
    },
  });
}

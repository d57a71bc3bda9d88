"use client";
import { QueryClient, QueryClientProvider, useQueryClient } from "@tanstack/react-query";
import { createContext, useContext, useEffect, useState, type ReactNode } from "react";
import { api, type Outputs } from "../lib/api";

export type Me = Outputs["auth"]["whoami"];
const MeContext = createContext<Me | null>(null);

/** The signed-in user (the (app) layout only renders for one). */
export function useMe(): Me {
  const me = useContext(MeContext);
  if (!me) throw new Error("useMe outside the signed-in layout");
  return me;
}

/**
 * Live updates without reload: one SSE subscription to the session event
 * stream; every transition refetches what is on screen (debounced).
 */
function LiveEvents() {
  const client = useQueryClient();
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | null = null;
    const sub = api.sessions.watch.subscribe(
      {},
      {
        onData: () => {
          if (timer) return;
          timer = setTimeout(() => {
            timer = null;
            void client.invalidateQueries();
          }, 150);
        },
      },
    );
    return () => {
      sub.unsubscribe();
      if (timer) clearTimeout(timer);
    };
  }, [client]);
  return null;
}

export function Providers({ me, children }: { me: Me; children: ReactNode }) {
  const [client] = useState(
    () =>
      new QueryClient({
        defaultOptions: {
          queries: { staleTime: 2_000, refetchOnWindowFocus: true, retry: (n, err) => n < 2 && !/UNAUTHORIZED|FORBIDDEN|NOT_FOUND/.test(String(err)) },
        },
      }),
  );
  return (
    <QueryClientProvider client={client}>
      <MeContext.Provider value={me}>
        <LiveEvents />
        {children}
      </MeContext.Provider>
    </QueryClientProvider>
  );
}

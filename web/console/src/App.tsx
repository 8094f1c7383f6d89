import { lazy, Suspense, useEffect, useSyncExternalStore } from "react";
import { session, type SessionState } from "./api/session";
import { navigate, usePath } from "./router";
import { Layout } from "./ui/Layout";
import { Page } from "./ui/Page";
import { SignIn, SignUp } from "./pages/Auth";

// Pages beyond the shell load on demand (esbuild code splitting), so the first load stays small.
const Knowledge = lazy(() => import("./pages/knowledge/Knowledge"));
const Analytics = lazy(() => import("./pages/analytics/Analytics"));
const Audit = lazy(() => import("./pages/audit/Audit"));

/** Where a signed-in creator lands. */
const home = "/knowledge";
const publicPaths = ["/sign-in", "/sign-up"];

// The path a signed-out visitor asked for, to go to after signing in.
let wanted = "";

export function useSession(): SessionState {
  return useSyncExternalStore(session.subscribe, session.snapshot);
}

export function App() {
  const s = useSession();
  const path = usePath();

  useEffect(() => {
    void session.restore();
  }, []);

  const signedIn = s.status === "signed-in";
  useEffect(() => {
    if (s.status === "loading") return;
    if (signedIn && (publicPaths.includes(path) || path === "/")) {
      const to = wanted || home;
      wanted = "";
      navigate(to, { replace: true });
    } else if (!signedIn && !publicPaths.includes(path)) {
      if (path !== "/") wanted = path;
      navigate("/sign-in", { replace: true });
    }
  }, [s.status, signedIn, path]);

  if (s.status === "loading") {
    return (
      <main className="splash" id="main">
        <p role="status">Loading the console…</p>
      </main>
    );
  }
  if (s.status === "signed-out") {
    if (path === "/sign-up") return <SignUp />;
    return <SignIn notice={s.reason} />;
  }
  let page;
  switch (path) {
    case "/knowledge":
      page = <Knowledge />;
      break;
    case "/analytics":
      page = <Analytics />;
      break;
    case "/audit":
      page = <Audit />;
      break;
    case "/":
    case "/sign-in":
    case "/sign-up":
      page = null; // redirecting
      break;
    default:
      page = (
        <Page title="Page not found">
          <p>
            There is no console page at <code>{window.location.pathname}</code>. Use the navigation to pick a page.
          </p>
        </Page>
      );
  }
  return (
    <Layout creator={s.creator} path={path}>
      <Suspense
        fallback={
          <p className="page-loading" role="status">
            Loading…
          </p>
        }
      >
        {page}
      </Suspense>
    </Layout>
  );
}

import { lazy, Suspense, useEffect, useSyncExternalStore } from "react";
import { permissions, usePermissions } from "./api/perms";
import { session, type SessionState } from "./api/session";
import { navigate, usePath } from "./router";
import { Layout, pageOf, pages } from "./ui/Layout";
import { Forbidden, NoPages } from "./ui/Forbidden";
import { Page } from "./ui/Page";
import { SignIn, SignUp } from "./pages/Auth";

// Pages beyond the shell load on demand (esbuild code splitting), so the first load stays small.
const Knowledge = lazy(() => import("./pages/knowledge/Knowledge"));
const Analytics = lazy(() => import("./pages/analytics/Analytics"));
const Account = lazy(() => import("./pages/account/Account"));
const Invite = lazy(() => import("./pages/account/Invite"));
const Team = lazy(() => import("./pages/team/Team"));
const Keys = lazy(() => import("./pages/keys/Keys"));
const Settings = lazy(() => import("./pages/settings/Settings"));
const Coach = lazy(() => import("./pages/coach/Coach"));
const Channels = lazy(() => import("./pages/channels/Channels"));
const Campaigns = lazy(() => import("./pages/campaigns/Campaigns"));
const Inbox = lazy(() => import("./pages/inbox/Inbox"));
const Programs = lazy(() => import("./pages/programs/Programs"));
const Audit = lazy(() => import("./pages/audit/Audit"));

/** Where a signed-in person lands: Knowledge when their role may use it, else the first page it may. */
const defaultHome = "/knowledge";
const publicPaths = ["/sign-in", "/sign-up"];
// The invitation page answers signed in or out (the API's links name /accept-invitation).
const invitePaths = ["/invite", "/accept-invitation"];

// The path a signed-out visitor asked for, to go to after signing in.
let wanted = "";

export function useSession(): SessionState {
  return useSyncExternalStore(session.subscribe, session.snapshot);
}

export function App() {
  const s = useSession();
  const path = usePath();
  const perms = usePermissions();
  const home =
    perms.status !== "ready"
      ? defaultHome
      : (pages.find((p) => p.to === defaultHome && perms.perms.has(p.perm)) ?? pages.find((p) => perms.perms.has(p.perm)))?.to ?? "/";

  useEffect(() => {
    void session.restore();
  }, []);

  const signedIn = s.status === "signed-in";
  // Every page change asks again what the role may do (a role changed meanwhile shows at once;
  // a removed member's session ends).
  useEffect(() => {
    if (signedIn && perms.status === "ready") void permissions.refresh();
  }, [path, signedIn]);
  useEffect(() => {
    if (s.status === "loading" || invitePaths.includes(path) || (signedIn && perms.status === "loading")) return;
    if (signedIn && (publicPaths.includes(path) || path === "/")) {
      if (home === "/" && path === "/") return;
      const to = wanted || home;
      wanted = "";
      navigate(to, { replace: true });
    } else if (!signedIn && !publicPaths.includes(path)) {
      if (path !== "/") wanted = path;
      navigate("/sign-in", { replace: true });
    }
  }, [s.status, signedIn, path, perms.status, home]);

  if (s.status === "loading" || (s.status === "signed-in" && perms.status === "loading")) {
    return (
      <main className="splash" id="main">
        <p role="status">Loading the console…</p>
      </main>
    );
  }
  if (s.status === "signed-out") {
    if (invitePaths.includes(path))
      return (
        <Suspense fallback={<p className="page-loading" role="status">Loading…</p>}>
          <Invite signedIn={false} />
        </Suspense>
      );
    if (path === "/sign-up") return <SignUp />;
    return <SignIn notice={s.reason} />;
  }
  let page;
  if (path === "/campaigns" || path.startsWith("/campaigns/")) page = <Campaigns path={path} />;
  else if (path === "/inbox" || path.startsWith("/inbox/")) page = <Inbox path={path} />;
  else if (path === "/programs" || path.startsWith("/programs/")) page = <Programs path={path} />;
  else switch (path) {
    case "/knowledge":
      page = <Knowledge />;
      break;
    case "/analytics":
      page = <Analytics />;
      break;
    case "/account":
      page = <Account />;
      break;
    case "/invite":
    case "/accept-invitation":
      page = <Invite signedIn />;
      break;
    case "/team":
      page = <Team />;
      break;
    case "/keys":
      page = <Keys />;
      break;
    case "/settings":
      page = <Settings />;
      break;
    case "/coach":
      page = <Coach />;
      break;
    case "/channels":
      page = <Channels />;
      break;
    case "/audit":
      page = <Audit />;
      break;
    case "/":
      page = home === "/" ? <NoPages role={perms.status === "ready" ? perms.role : ""} /> : null; // else redirecting
      break;
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
  // What the role may not use answers "no access" instead, sub-paths included (ui/Layout.tsx
  // names each page's permission).
  const entry = pageOf(path);
  if (perms.status !== "ready") {
    page = (
      <Page title="The console could not load">
        <p className="form-error" role="alert">
          {perms.status === "error" ? perms.message : ""} Reload the page to try again.
        </p>
      </Page>
    );
  } else if (entry && !perms.perms.has(entry.perm)) {
    page = <Forbidden page={entry.label} role={perms.role} perm={entry.perm} />;
  }
  return (
    <Layout creator={s.creator} path={path}>
      <Suspense
        key={s.creator.id}
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

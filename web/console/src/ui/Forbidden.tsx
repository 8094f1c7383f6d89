import { Page } from "./Page";

/** The answer to a page the signed-in role may not use: what, why, and who can change it. */
export function Forbidden({ page, role, perm }: { page: string; role: string; perm: string }) {
  return (
    <Page title={`No access to ${page}`}>
      <div className="forbidden" role="alert">
        <p>
          Your role in this workspace is <strong>{role}</strong>, and the {page} page is not open to it (it needs the{" "}
          <code>{perm}</code> permission).
        </p>
        <p>If you need it, ask an owner or admin of the workspace to change your role. The navigation shows the pages you can use.</p>
      </div>
    </Page>
  );
}

/** A signed-in role that may use none of the console's pages yet. */
export function NoPages({ role }: { role: string }) {
  return (
    <Page title="Welcome">
      <p>
        Your role in this workspace is <strong>{role}</strong>. None of the console&apos;s pages is open to it yet: ask an owner or
        admin of the workspace if you need access.
      </p>
    </Page>
  );
}

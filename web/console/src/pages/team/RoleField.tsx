// The role picker with the chosen role explained under it: inviting a member (Team) and
// creating an API key (API keys) offer the same roles.
import type { Schemas } from "../../api/client";
import { grantableRoles, roleHelp, roleNames } from "./roles";

type Role = Schemas["GrantableRole"];

/** A "Role" field: select id, hint id + "-help". */
export function RoleField({ id, value, onChange }: { id: string; value: Role; onChange: (r: Role) => void }) {
  return (
    <div className="field">
      <label htmlFor={id}>Role</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value as Role)} aria-describedby={id + "-help"}>
        {grantableRoles.map((r) => (
          <option key={r} value={r}>
            {roleNames[r]}
          </option>
        ))}
      </select>
      <p className="hint" id={id + "-help"}>
        {roleHelp[value]}
      </p>
    </div>
  );
}

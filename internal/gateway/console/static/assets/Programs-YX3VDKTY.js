import{a,b}from"./chunk-V7LOBUIH.js";import"./chunk-UDFX3TTT.js";export{b as StatusBadge,a as default};

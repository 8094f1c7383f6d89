import{a,b}from"./chunk-MPVPXSUZ.js";import"./chunk-N4AVXPDA.js";export{b as StatusBadge,a as default};
